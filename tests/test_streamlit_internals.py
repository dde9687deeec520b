"""The Streamlit internal the app relies on (pages/_streamlit_internals.py) still exists and still works.

If this fails after a Streamlit upgrade, the flag moved: deep links after a server start would run a page
without app.py's frame. Find the new place of `uses_pages_directory` and update that one module.
"""

from pages import _streamlit_internals as internals


def test_the_pages_directory_flag_still_exists():
    try:
        manager = internals.pages_manager_class()
    except (ImportError, AttributeError) as err:  # pragma: no cover - only on a breaking Streamlit release
        raise AssertionError(
            f"Streamlit no longer has {internals.PAGES_MANAGER_MODULE}.{internals.PAGES_MANAGER_CLASS}: "
            "update pages/_streamlit_internals.py for this Streamlit release"
        ) from err
    assert hasattr(manager, internals.PAGES_DIRECTORY_FLAG), (
        f"Streamlit's {internals.PAGES_MANAGER_CLASS} lost {internals.PAGES_DIRECTORY_FLAG!r}: "
        "update pages/_streamlit_internals.py for this Streamlit release"
    )
    assert getattr(manager, internals.PAGES_DIRECTORY_FLAG) in (None, True, False)  # None until first computed


def test_streamlit_still_reads_the_flag():
    """The flag is not just present but used: the pages manager consults it (else flipping it does nothing)."""
    import inspect

    import streamlit.runtime.pages_manager as module

    assert internals.PAGES_DIRECTORY_FLAG in inspect.getsource(module), (
        "Streamlit no longer reads uses_pages_directory: update pages/_streamlit_internals.py"
    )
