"""The project field table agrees with the stored model and with the models made from it."""

from app.models import Project
from app.repositories.projects import LIST_COLUMNS
from app.schemas.project import (
    ANSWER_FIELDS,
    INPUT_FIELDS,
    ProjectFields,
    ProjectRead,
    ProjectUpdate,
)
from app.services.project_rows import STORED_COLUMNS
from app.services.tabular import IMPORT_COLUMNS

MODEL_COLUMNS = {column.key for column in Project.__table__.c}


def test_every_column_a_write_sets_is_a_model_column() -> None:
    assert set(STORED_COLUMNS) <= MODEL_COLUMNS
    assert len(set(STORED_COLUMNS)) == len(STORED_COLUMNS)


def test_every_column_the_answer_shows_is_read_by_the_list() -> None:
    listed = {column.key for column in LIST_COLUMNS}
    assert {column for spec in ANSWER_FIELDS for column in spec.columns} == listed


def test_patch_and_answer_models_have_every_input_field() -> None:
    names = [spec.name for spec in INPUT_FIELDS]
    assert list(ProjectFields.model_fields) == names
    assert list(ProjectUpdate.model_fields) == names
    assert all(not info.is_required() for info in ProjectUpdate.model_fields.values())
    assert set(names) < set(ProjectRead.model_fields)
    assert [spec.name for spec in ANSWER_FIELDS] == list(ProjectRead.model_fields)


def test_every_stored_input_column_has_one_spreadsheet_column() -> None:
    sheet = [name for name, _ in IMPORT_COLUMNS]
    headers = [zh for _, zh in IMPORT_COLUMNS]
    assert len(set(sheet)) == len(sheet) and len(set(headers)) == len(headers)
    stored = [column for spec in INPUT_FIELDS for column in spec.columns]
    masks = {f"{name}_mask": name for name in ("categories", "financing_types")}
    assert [masks.get(column, column) for column in stored] == sheet
