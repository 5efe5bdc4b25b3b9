"""The ``focusmim.cli`` folder: its docstring names every module in it, and what it re-exports is its modules' own."""
import focusmim.cli as package
from tests.foldertools import reexports_are_the_modules_own, undocumented_modules


def test_the_folder_docstring_names_every_module():
    assert undocumented_modules(package) == []


def test_reexports_are_the_modules_own():
    assert reexports_are_the_modules_own(package) == []
