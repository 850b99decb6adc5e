"""Which changes of primaryRegion the program refuses, before anything runs (infra/primary_move.py).
The hook that applies this runs in the engine: tests/test_lifecycle.py drives it."""

import pytest

from infra import primary_move
from infra.settings import parse_settings


def marker(**config) -> dict[str, str]:
    settings = {"appName": "db", "minMachinesRunning": 1, **config}
    return primary_move.marker_environment(parse_settings(settings))


def test_a_first_run_or_the_same_region_is_no_move():
    assert primary_move.move_problem({}, marker()) is None
    assert primary_move.move_problem(marker(), marker(replicas=["ams"])) is None


def test_a_move_with_the_same_off_machine_backup_goes_ahead():
    assert primary_move.move_problem(marker(), marker(primaryRegion="ams")) is None


@pytest.mark.parametrize(
    "old, new, words",
    [
        ({"backupTarget": "file"}, {"backupTarget": "file", "primaryRegion": "ams"},
         "with backupTarget file the database and its only backup are on the yyz volume"),
        ({"backupTarget": "file"}, {"primaryRegion": "ams"},
         "in the same run as a new backup location (file:backups -> tigris:db-backup/backups)"),
        ({}, {"primaryRegion": "ams", "backupPath": "elsewhere"},
         "would restore from a backup that does not hold the data yet"),
        ({}, {"primaryRegion": "ams", "replicas": ["yyz"]},
         "while yyz becomes a replica region"),
    ],
)  # fmt: skip
def test_moves_that_would_lose_data_are_refused_naming_the_key_and_what_to_do(old, new, words):
    problem = primary_move.move_problem(marker(**old), marker(**new))
    assert problem is not None
    assert problem.startswith("letter-unboxed-db:primaryRegion yyz -> ams")
    assert words in problem
