"""Every st.session_state key of the dashboard, named once. Pages use these names, never the strings.

Each line says who writes the key and who reads it (modules under pages/ unless said). Keys a widget
owns (its ``key=``) hold the widget's value; Streamlit writes them, and some pages write them too.
tests/test_keys.py fails on a page that uses a session-state key (literal, ``key=`` or attribute) not
declared here, and on a name here that no page uses. The tests read some keys by their strings
(lab_config, lab_error, lab_runs, real_run): renaming one is a change to what the tests see.
"""

# ---- the browser session and the frame (pages/_frame.py) ----
CLIENT_ID = "client_id"  # _identity.person writes this browser's person id (its cookie's) once; _common.client_id
TAB_ID = "tab_id"  # _identity.tab_id: one id per tab, for what counts per tab (_polling's refresh share)
PERSON_FROM_COOKIE = "person_from_cookie"  # _identity: whether the person came from the cookie (else it writes one)
PERSON_STALE_COOKIE = "person_stale_cookie"  # _identity: a cookie that did not verify, for the writer to replace
PERSON_COOKIE = "person_cookie"  # _identity's cookie writer (a component); it reports another tab's cookie
OWNER_ADMIN_TOKEN = "owner_admin_token"  # _owner's sidebar field for the admin token (widget)
OWNER_ADMIN_LEAVE = "owner_admin_leave"  # _owner's button that ends this browser's admin rights (widget)
FRAME_FLASH = "frame_flash"  # a callback's one-line failure (a store or room error); _frame.py shows it once
PRESENTATION = "frame_presentation"  # _frame.py's toggle and _common.init_setup (?present=1) write; _common reads

# ---- the Lab's setup ----
LAB_VALUES = "lab_values"  # _common.init_setup/apply_setup, _controls.read_values write; _controls, theory read
LAB_PRESET = "lab_preset"  # _common.init_setup/apply_setup write; _controls, lab, _common.setup_params read
LAB_PRESET_PICK = "lab_preset_pick"  # _controls' preset box (widget), _common.apply_setup write; _controls reads
LAB_URL_NOTES = "lab_url_notes"  # _common.init_setup writes what a shared link got wrong; lab shows it
KNOB_PREFIX = "lab_f_"  # + a Config field: each knob's widget (_controls); _common.widget_key builds the key

# ---- the Lab's runs ----
LAB_RUNS = "lab_runs"  # lab.start, runs (open in Lab), sweep (open a cell), _common.init_setup write; lab reads
LAB_FRAMES = "lab_frames"  # _live caches metric frames per run; lab and runs drop it when the runs change
LAB_FIGURES = "lab_figures"  # _live keeps its last two charts until a new logged step (or toggle) changes them
LAB_FLASH = "lab_flash"  # lab.start writes a refusal; lab shows it once and drops it
LAB_CONFIG = "lab_config"  # lab writes the validated config (or None); tests/test_app_pages.py reads it
LAB_ERROR = "lab_error"  # lab writes (field, message) of the setup's error; tests/test_app_pages.py reads it
LAB_FRESH = "lab_fresh"  # lab's "retrain even if cached" box (widget); lab.start reads it
LAB_RUN = "lab_run"  # lab's Run button (widget)
LAB_DETACH = "lab_detach"  # lab's button that clears the attached runs (widget)
LAB_STOP = "lab_stop"  # _live's Stop button (widget)
LAB_RAW = "lab_raw"  # _live's raw-coefficients toggle (widget)
LAB_THEORY = "lab_theory"  # _live's theory-overlay toggle (widget)
LAB_CORR_CHART = "lab_corr_chart"  # _live's correlation chart (widget: keeps zoom)
LAB_ACC_CHART = "lab_acc_chart"  # _live's accuracy chart (widget: keeps zoom)
LAB_INSIDE_TAB = "lab_inside_tab"  # _inside's tabs (widget)
LAB_PATCH_STEP = "lab_patch_step"  # _inside's step slider of the patch view (widget, shown when not following)
LAB_PATCH_FOLLOW = "lab_patch_follow"  # _inside's "follow the newest step" toggle of the patch view (widget)
LAB_PATCH_EXAMPLE = "lab_patch_example"  # _inside's test-example input (widget)
LAB_PATCH_CHART = "lab_patch_chart"  # _inside's adversarial-patch chart (widget)
LAB_DECOMP_CHART = "lab_decomp_chart"  # _inside's perturbation-decomposition chart (widget)
LAB_WEIGHTS_STEP = "lab_weights_step"  # _inside's step slider of the weights view (widget, shown when not following)
LAB_WEIGHTS_FOLLOW = "lab_weights_follow"  # _inside's "follow the newest step" toggle of the weights view (widget)
LAB_WEIGHTS_CHART = "lab_weights_chart"  # _inside's weight-matrix chart (widget)

# ---- Theory ----
THEORY_SCALE = "theory_scale"  # theory's scale slider (widget)
THEORY_NORMALISED = "theory_normalised"  # theory's normalise toggle (widget)
THEORY_MINIMA_CHART = "theory_minima_chart"  # theory's chart of the two minima (widget)
THEORY_TABLE = "theory_table"  # theory's table of the two minima (widget)
THEORY_DYNAMICS_CHART = "theory_dynamics_chart"  # theory's reduced-dynamics chart (widget)

# ---- Runs ----
RUNS_GOTO_LAB = "runs_goto_lab"  # runs writes it in a button callback; runs reads it and switches to the Lab
RUNS_GOTO_REAL = "runs_goto_real"  # runs writes it in a button callback; runs reads it and switches to Real
RUNS_TABLE = "runs_table"  # runs' table of stored runs (widget)
RUNS_OPEN = "runs_open"  # runs' open-in-Lab button (widget)
RUNS_DELETE = "runs_delete"  # runs' delete button (widget)
RUNS_SURE = "runs_sure"  # runs' delete confirmation (widget)
RUNS_CSV = "runs_csv"  # runs' CSV download (widget)
RUNS_JSON = "runs_json"  # runs' JSON download (widget)
RUNS_CONFIG = "runs_config"  # runs' config download (widget)
RUNS_LOAD = "runs_load"  # runs' Load-into-the-Lab button for an imported config (widget)
RUNS_METRIC = "runs_metric"  # runs' overlay metric box (widget)
RUNS_OVERLAY = "runs_overlay"  # runs' overlay chart (widget)
RUNS_UPLOAD = "runs_upload"  # runs' JSON import (widget)
RUNS_WITH_SWEEPS = "runs_with_sweeps"  # runs' toggle that lists the runs of sweeps too (widget)
RUNS_QUEUE = "runs_queue"  # runs' admin table of the queue (widget)
RUNS_ADMIN_PERSON = "runs_admin_person"  # runs' admin choice of a person (widget)
RUNS_ADMIN_STOP_PERSON = "runs_admin_stop_person"  # runs' admin button: stop everything of that person (widget)
RUNS_ADMIN_JOB = "runs_admin_job"  # runs' admin choice of one run or sweep (widget)
RUNS_ADMIN_STOP_JOB = "runs_admin_stop_job"  # runs' admin button: stop it for everyone (widget)

# ---- Sweep ----
SWEEP_ID = "sweep_id"  # sweep writes the started sweep's id (a job's run id) and reads it back on every rerun
SWEEP_REFUSED = "sweep_refused"  # sweep writes the admission's refusal in Run's callback; sweep shows it once
SWEEP_POLLING = "sweep_polling"  # sweep writes and reads it: poll while the sweep runs, one rerun when it ends
SWEEP_FIGURES = "sweep_figures"  # sweep writes and reads it: ((sweep id, rows), figures), redrawn on new rows only
SWEEP_PRESET = "sweep_preset"  # sweep's preset box (widget); sweep reads it when a cell opens in the Lab
SWEEP_X = "sweep_x"  # sweep's first knob (widget)
SWEEP_Y = "sweep_y"  # sweep's second knob (widget)
SWEEP_SEEDS = "sweep_seeds"  # sweep's seed count (widget)
SWEEP_MODE = "sweep_mode"  # sweep's mode box (widget)
SWEEP_FINAL_ONLY = "sweep_final_only"  # sweep's final-metrics-only box (widget)
SWEEP_RUN = "sweep_run"  # sweep's Run button (widget)
SWEEP_STOP = "sweep_stop"  # sweep's Stop button (widget)
SWEEP_OPEN = "sweep_open"  # sweep's open-a-cell button (widget)
SWEEP_CSV = "sweep_csv"  # sweep's CSV download (widget)
SWEEP_WHERE = "sweep_where"  # sweep: the cluster-or-this-server choice (widget), shown when a Dask scheduler is set
SWEEP_WORKERS = "sweep_workers"  # sweep: the cluster's workers table (widget)

# ---- Real images ----
REAL_RUN = "real_run"  # real (Run), runs (open), _common.init_setup (?real=) write; real, _common read
REAL_POLLING = "real_polling"  # real writes and reads it: poll while the run is active, one rerun when it ends
REAL_REFUSED = "real_refused"  # real writes a refusal in the Run callback; real shows it once and drops it
REAL_DATASET = "real_dataset"  # real's dataset box (widget)
REAL_QUICK = "real_quick"  # real's quick-preset toggle (widget)
REAL_SEED = "real_seed"  # real's seed input (widget)
REAL_RUN_BUTTON = "real_run_button"  # real's Run button (widget)
REAL_STOP = "real_stop"  # real's Stop button (widget)
REAL_ACC_CHART = "real_acc_chart"  # real's accuracy chart (widget)
REAL_FEAT_CHART = "real_feat_chart"  # real's feature-accuracy chart (widget)

# ---- the Room page (rooms that vote) ----
ROOM_CODE = "room_code"  # room writes the joined room; _common.setup_params keeps it in the URL (?room=)
ROOM_NEW_KEY = "room_new_key"  # room: the teacher key just made (open, new key), shown masked to this browser only
ROOM_KEY_SHOWN = "room_key_shown"  # room: the masked box showing that key (widget)
ROOM_NEW_KEY_BUTTON = "room_new_key_button"  # room: Make a new teacher key (widget)
ROOM_VOTE_ERROR = "room_vote_error"  # room writes a refused vote; room shows it once
ROOM_PICK = "room_pick"  # room: the teacher's chapter box (widget)
ROOM_ASK = "room_ask"  # room: the teacher's Ask button (widget)
ROOM_CLOSE = "room_close"  # room: the teacher's Close voting button (widget)
ROOM_REVEAL = "room_reveal"  # room: the teacher's Reveal button (widget)
ROOM_JOIN_CODE = "room_join_code"  # room: the code box (widget)
ROOM_JOIN_KEY = "room_join_key"  # room: the teacher-key box (widget)
ROOM_OPEN = "room_open"  # room: Open a room (widget)
ROOM_JOIN = "room_join"  # room: Join (widget)
ROOM_LEAVE = "room_leave"  # room: Leave this room (widget)
ROOM_LEAVE_BAD = "room_leave_bad"  # room: Leave, shown with a refused room (widget)

# ---- the Lesson, the Lab's seeds and the frame's per-page link state ----
FRAME_ENTERED = "frame_entered"  # used by _frame.py, lesson.py
FRAME_PAGE = "frame_page"  # used by _frame.py
LAB_SEED_COUNT = "lab_seed_count"  # used by _controls.py
LAB_SEEDS = "lab_seeds"  # used by _controls.py
LESSON_ASKED = "lesson_asked"  # used by lesson.py
LESSON_BACK = "lesson_back"  # used by lesson.py
LESSON_CHAPTER = "lesson_chapter"  # used by lesson.py
LESSON_FLASH = "lesson_flash"  # used by lesson.py
LESSON_IDS = "lesson_ids"  # used by _lesson_runs.py
LESSON_NEXT = "lesson_next"  # used by lesson.py
LESSON_PREDICTIONS = "lesson_predictions"  # used by lesson.py
LESSON_RUN = "lesson_run"  # used by lesson.py
LESSON_SEEDS = "lesson_seeds"  # used by lesson.py
LESSON_SEEDS_INPUT = "lesson_seeds_input"  # used by lesson.py
URL_EXTRA = "url_extra"  # used by _common.py, _frame.py, lab.py, lesson.py
URL_SETUP = "url_setup"  # _frame.py sets it per page run, home.py turns it off: the URL holds no Lab setup there
FRAME_LAB_FIRST = "frame_lab_first"  # _frame.py: whether this session came in by a link that named a page

# ---- the first screen (home.py) and what-ifs (_whatif.py) ----
HOME_VALUES = "home_values"  # home: the main knobs' values (the session's own what-if)
HOME_PREFIX = "home_f_"  # + a main knob's field: its widget on the first screen (home)
HOME_STRIP_CHART = "home_strip_chart"  # home: one example's patches (widget: keeps zoom)
HOME_CORR_CHART = "home_corr_chart"  # home: the twin's correlations (widget)
HOME_ACC_CHART = "home_acc_chart"  # home: the twin's accuracies (widget)
HOME_FIGURES = "home_figures"  # home: the twin's two charts and what they were built from (rebuilt on new steps)
WHATIF_HELD = "whatif_held"  # _whatif: slot -> (setup, run ids) of each page's current what-if
LAB_DISMISSED = "lab_dismissed"  # lab: the setup whose runs Clear hid (it is not answered by itself again)
LESSON_DATA_CHART = "lesson_data_chart"  # lesson: the opening's picture of one example (widget)
