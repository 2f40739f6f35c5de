"""``wandb.termwarn`` and ``wandb.errors.term``'s switches, as wandb's own
examples set them (``wandb.errors.term._show_warnings = False``)."""

from __future__ import annotations

import pytest

import runship
import runship.compat


@pytest.fixture
def term():
    yield runship.errors.term
    runship.errors.term._show_warnings, runship.errors.term._silent = True, False


def test_show_warnings_off_keeps_warnings_out_and_logs_in(term, capsys):
    term._show_warnings = False
    runship.termwarn("hidden")
    runship.termlog("shown")
    assert capsys.readouterr().err == "runship: shown\n"
    term._silent = True
    runship.termlog("not even this")
    runship.termerror("nor this")
    assert capsys.readouterr().err == ""


def test_the_shim_serves_wandb_errors_term(term, capsys):
    runship.compat.install_as_wandb(force=True)
    try:
        import wandb
        from wandb.errors import term as shim_term

        wandb.errors.term._show_warnings = False
        assert shim_term is term and term._show_warnings is False
        wandb.termwarn("hidden")
        assert capsys.readouterr().err == ""
    finally:
        runship.compat.uninstall()
