"""The pure helpers of the S3 restore benchmark (bench/restore.py): reading LTX object keys."""

from bench.restore import ltx_levels, max_txid, med_min

KEYS = [
    "s3r-100/0000/0000000000000001-0000000000000001.ltx",
    "s3r-100/0000/0000000000000002-000000000000000a.ltx",
    "s3r-100/0001/0000000000000001-000000000000000a.ltx",
    "s3r-100/0009/0000000000000001-0000000000000001.ltx",
    "s3r-100/other.json",
]


def test_ltx_levels_counts_files_per_level_and_skips_other_objects():
    assert ltx_levels(KEYS) == {0: 2, 1: 1, 9: 1}


def test_max_txid_reads_the_hex_upper_bound():
    assert max_txid(KEYS) == 10
    assert max_txid(["0000/0000000000000003-0000000000000003.ltx"]) == 3
    assert max_txid([]) == 0


def test_med_min():
    assert med_min([3.0, 1.0, 2.0]) == "2.00 (min 1.00)"
    assert med_min([25.3]) == "25.30"
    assert med_min([]) == "n/a"
