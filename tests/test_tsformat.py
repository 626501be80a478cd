"""The .ts reader on small files written here: header tags, multivariate cases, '?',
unequal lengths, timestamps, and the errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgebench.tsformat import TsFormatError, parse_ts, read_ts

MULTIVARIATE = """\
# a comment before the header
#another one
@problemName TinyMotions
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true walk run
@data
1.0,2.0,3.0:4.0,5.0,6.0:run
0.5,?,1.5,2.5:-1,-2,-3,-4:walk

7,8:9,10:run
"""


def test_multivariate_unequal_lengths_missing_values_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "tiny.ts"
    path.write_text(MULTIVARIATE)
    data = read_ts(path)
    assert data.problem_name == "TinyMotions"
    assert (data.timestamps, data.missing, data.univariate) == (False, True, False)
    assert (data.dimensions, data.equal_length, data.series_length) == (2, False, None)
    assert data.class_labels == ["walk", "run"]
    assert data.labels == ["run", "walk", "run"]
    assert data.lengths == [3, 4, 2]
    assert data.missing_values == 1
    assert data.label_indices().tolist() == [1, 0, 1]
    x = data.to_array()  # padded to the longest case with 0, '?' kept as NaN
    assert x.shape == (3, 2, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], [[1, 2, 3, 0], [4, 5, 6, 0]])
    assert np.isnan(x[1, 0, 1]) and x[1, 0, 3] == 2.5
    np.testing.assert_array_equal(x[1, 1], [-1, -2, -3, -4])
    np.testing.assert_array_equal(x[2], [[7, 8, 0, 0], [9, 10, 0, 0]])
    cut = data.to_array(3, pad_value=-9.0)  # a fixed length cuts longer cases
    assert cut.shape == (3, 2, 3)
    np.testing.assert_array_equal(cut[2], [[7, 8, -9], [9, 10, -9]])
    np.testing.assert_array_equal(cut[1, 1], [-1, -2, -3])


def test_univariate_equal_length_and_timestamps() -> None:
    text = ("@problemName Uni\n@timestamps true\n@univariate true\n@equalLength true\n"
            "@seriesLength 3\n@classLabel true a b\n@data\n"
            "(2020-01-01 00:00:00,1.5),(2020-01-01 00:00:01,2.5),(2020-01-01 00:00:02,?):b\n"
            "(0,4),(1,5),(2,6):a\n")
    data = parse_ts(text)
    assert data.timestamps is True and data.univariate is True and data.series_length == 3
    x = data.to_array()
    assert x.shape == (2, 1, 3)
    np.testing.assert_array_equal(x[1, 0], [4, 5, 6])
    assert x[0, 0, 0] == 1.5 and np.isnan(x[0, 0, 2])
    assert data.label_indices().tolist() == [1, 0]


def test_unlabelled_regression_target_kept_as_text() -> None:
    data = parse_ts("@univariate true\n@targetLabel true\n@data\n1,2,3:0.75\n")
    assert data.labels == ["0.75"] and data.class_labels is None
    with pytest.raises(TsFormatError, match="no class labels"):
        data.label_indices()


@pytest.mark.parametrize("text, message", [
    ("@dimensions 2\n@classLabel true a\n@data\n1,2:a\n", r"<ts>:4: 1 dimension\(s\), the header declares 2"),
    ("@univariate true\n@classLabel true a b\n@data\n1,2:c\n", "class label 'c' is not declared"),
    ("@equalLength true\n@seriesLength 3\n@univariate true\n@data\n1,2\n", "declares @seriesLength 3"),
    ("@univariate true\n@missing false\n@data\n1,?\n", "@missing false but the data holds 1"),
    ("@univariate true\n@data\n1,x\n", "value 2 is not a number: 'x'"),
    ("@univariate maybe\n@data\n1\n", "must be true or false"),
    ("@dimensions zero\n@data\n1\n", "must be an integer"),
    ("@univariate true\n1,2\n", "data before @data"),
    ("@univariate true\n", "no @data section"),
    ("@univariate true\n@data\n", "holds no cases"),
    ("@colour blue\n@data\n1\n", "unknown header tag '@colour'"),
    ("@equalLength true\n@dimensions 2\n@data\n1,2:3\n", "dimensions of this case have lengths"),
])
def test_format_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(TsFormatError, match=message):
        parse_ts(text)


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    from edgebench.errors import ModelError

    with pytest.raises(ModelError, match="cannot read"):
        read_ts(tmp_path / "absent.ts")
