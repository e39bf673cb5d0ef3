"""Spreadsheet rows become the JSON items a single create takes, whatever the header language."""

import io
from datetime import datetime

import pytest
from openpyxl import Workbook

from app.services.tabular import IMPORT_COLUMNS, TabularError, read_table


def _csv(header: list[str], *rows: list[str], encoding: str = "utf-8-sig") -> bytes:
    lines = [",".join(header), *(",".join(r) for r in rows)]
    return ("\n".join(lines) + "\n").encode(encoding)


def test_chinese_headers_lists_booleans_and_nesting() -> None:
    data = _csv(
        ["项目名称", "统一社会信用代码", "支持领域", "第三方核证", "联系人", "总投资（元）"],
        [
            "光伏电站",
            "91350100M000100Y43",
            "M2；M3".replace("；", "、"),
            "是",
            "王工",
            "12500000.00",
        ],
    )
    [(row, item)] = list(read_table(data, "p.csv", "text/csv"))
    assert row == 2
    assert item == {
        "name": "光伏电站",
        "owner": {"uscc": "91350100M000100Y43"},
        "categories": ["M2", "M3"],
        "third_party_verified": True,
        "contact": {"name": "王工"},
        "total_investment": "12500000.00",
    }


def test_gb18030_csv_and_blank_rows_keep_row_numbers() -> None:
    data = _csv(["name", "summary"], ["甲", "一"], ["", ""], ["乙", "二"], encoding="gb18030")
    assert [(r, i["name"]) for r, i in read_table(data, "p.csv", None)] == [(2, "甲"), (4, "乙")]


def test_cells_are_trimmed_blank_ones_left_out_and_the_formula_mark_taken_off() -> None:
    data = _csv(
        ["name", "summary", "external_ref", "owner_name", "contact_name"],
        ["  甲  ", "   ", "'=A1", "'It's", "'"],
    )
    [(_, item)] = list(read_table(data, "p.csv", "text/csv"))
    # the apostrophe an export puts before a formula trigger goes; any other stays as typed
    assert item == {
        "name": "甲",
        "external_ref": "=A1",
        "owner": {"name": "'It's"},
        "contact": {"name": "'"},
    }


def test_export_only_columns_are_ignored_on_import() -> None:
    data = _csv(["id", "status", "name"], ["abc", "in_library", "甲"])
    assert [i for _, i in read_table(data, None, None)] == [{"name": "甲"}]


def test_xlsx_cells_keep_their_values() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [zh for _, zh in IMPORT_COLUMNS[:3]] + ["开工日期", "融资需求（元）", "融资期限（月）"]
    )
    sheet.append(["R-1", "风电", "简介", datetime(2026, 3, 1), 1234567.89, 60.0])
    buffer = io.BytesIO()
    book.save(buffer)
    [(row, item)] = list(read_table(buffer.getvalue(), "p.xlsx", None))
    assert row == 2
    assert item == {
        "external_ref": "R-1",
        "name": "风电",
        "summary": "简介",
        "start_date": "2026-03-01",
        "financing_need": "1234567.89",
        "tenor_months": "60",
    }


def test_a_file_without_a_name_column_is_refused() -> None:
    with pytest.raises(TabularError):
        list(read_table(_csv(["foo", "bar"], ["1", "2"]), "p.csv", None))


def test_garbage_xlsx_is_refused() -> None:
    with pytest.raises(TabularError):
        list(read_table(b"PK\x03\x04garbage", "p.xlsx", None))
