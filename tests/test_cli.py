"""Command line: ``hyperspy-eels-ml`` / ``python -m hyperspy_eels_ml``."""

import pytest

from hyperspy_eels_ml.__main__ import main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    import hyperspy_eels_ml

    assert out.startswith(f"hyperspy_eels_ml {hyperspy_eels_ml.__version__}") and "exspy" in out


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"]])
def test_help_is_plain_text_and_documents_every_option(capsys, argv):
    with pytest.raises(SystemExit):
        main(argv)
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out
    if argv[0] == "demo":
        for opt in ("--output", "--shape", "--channels", "--seed"):
            line = next(ln for ln in out.splitlines() if ln.strip().startswith(opt))
            assert len(line.split()) > 2 or opt == "--shape", line  # a help text follows the option
        assert "default" in out
    else:
        assert "hyperspy-eels-ml demo" in out


def test_unknown_command_fails(capsys):
    with pytest.raises(SystemExit) as info:
        main(["nope"])
    assert info.value.code == 2
