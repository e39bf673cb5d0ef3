"""The first batch of climate investment and financing pilots (环气候函〔2022〕50号).

Source: 生态环境部等九部门《关于公布气候投融资试点名单的通知》(环气候函〔2022〕50号, August 2022):
23 pilots, 12 cities, 4 districts and 7 national-level new areas. Codes are GB/T 2260 as in
python-stdnum's ``cn/loc`` table (checked against it when this file was written). A new area has
no code of its own (except 重庆两江新区, which got 500157 in 2025): it covers parts of the listed
districts, marked partial. For 两江新区 the historical codes 500105 江北区 and 500112 渝北区
(retired in 2025) are kept next to 500157, so projects recorded under them stay in the pilot.

The data is inlined on purpose: a migration must not change when application code does. The ids
are uuid5(uuid5(NAMESPACE_URL, "https://climatelib.org/pilots/first-batch"), name), written out
literally, so they are the same in every database.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DESIGNATION = "环气候函〔2022〕50号"
LOADED_AT = datetime(2026, 11, 26, tzinfo=UTC)

CITY, DISTRICT, NEW_AREA = "prefecture_city", "district", "national_new_area"

# (id, name, kind, province, region codes covered; a trailing * marks a code covered only in part)
PILOTS: list[tuple[str, str, str, str, str]] = [
    ("78711a5c-b237-5278-b4c3-3dd2c4b0fc64", "北京市密云区", DISTRICT, "11", "110118"),
    ("42564591-dd94-5e47-99f1-f4fb3e5d4788", "北京市通州区", DISTRICT, "11", "110112"),
    ("850536eb-8208-5a68-b688-ae5c3db44bbe", "河北省保定市", CITY, "13", "130600"),
    ("7bc717ae-aac7-5d58-bd5d-0c53c0c57c78", "山西省太原市", CITY, "14", "140100"),
    ("3b299f4e-868f-5ba3-a57a-5d34eed7a00b", "山西省长治市", CITY, "14", "140400"),
    ("88302500-99bf-583b-a4af-36ed23763840", "内蒙古自治区包头市", CITY, "15", "150200"),
    ("0125a863-f3af-5ad2-9225-551e40de2e4f", "辽宁省阜新市", CITY, "21", "210900"),
    (
        "505fc76e-3611-5a1c-85dc-fe502c9af021",
        "辽宁省大连市金普新区",
        NEW_AREA,
        "21",
        "210213 210214*",
    ),
    ("3c4cc47c-abc4-5fcd-a6fd-6c35b26fbfdb", "上海市浦东新区", NEW_AREA, "31", "310115"),
    ("4a45d7a4-e988-53be-b22e-81e318bccaf9", "浙江省丽水市", CITY, "33", "331100"),
    ("cf78b8c3-ac08-5b61-81fb-fe682b6748d4", "安徽省滁州市", CITY, "34", "341100"),
    ("10eaaa9a-56f1-5b4d-807f-564ee64fbfd6", "福建省三明市", CITY, "35", "350400"),
    ("709061b4-85a7-5899-92b3-0d45775c4f61", "山东省青岛市西海岸新区", NEW_AREA, "37", "370211"),
    ("f26d1e93-ceaf-5e1b-a872-b158df7a2b1b", "河南省信阳市", CITY, "41", "411500"),
    ("3c7e4d62-4d38-5323-a77b-270db9656660", "湖北省武汉市武昌区", DISTRICT, "42", "420106"),
    ("37bd4328-27c5-5559-9fbc-1e5a4e92c24d", "湖南省湘潭市", CITY, "43", "430300"),
    ("afb2dfc2-edba-5497-bf3b-1942b4c886d7", "广东省广州市南沙新区", NEW_AREA, "44", "440115"),
    ("14d3bc32-b20a-5c9e-8f8f-8b51a839339c", "广东省深圳市福田区", DISTRICT, "44", "440304"),
    ("49d7d7b0-0b1a-5d81-a574-4d8eebd42e77", "广西壮族自治区柳州市", CITY, "45", "450200"),
    (
        "9307a0f5-5a51-51ef-9af5-085cf758ba38",
        "重庆市两江新区",
        NEW_AREA,
        "50",
        "500157 500105* 500112* 500109*",
    ),
    (
        "af20f935-7144-5f74-80e6-cba496dc5014",
        "四川省天府新区",
        NEW_AREA,
        "51",
        "510116* 510112* 510118* 510185* 511403* 511421*",
    ),
    (
        "b26f86b5-4d29-50d2-afce-091724a51e20",
        "陕西省西咸新区",
        NEW_AREA,
        "61",
        "610402* 610404* 610423* 610481* 610112* 610116* 610118*",
    ),
    ("e8fd441f-6cc1-56c2-8a08-4533720d17de", "甘肃省兰州市", CITY, "62", "620100"),
]

pilots = sa.table(
    "pilots",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("province_code", sa.String()),
    sa.column("batch", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("designation_ref", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
pilot_regions = sa.table(
    "pilot_regions",
    sa.column("pilot_id", sa.Uuid()),
    sa.column("region_code", sa.String()),
    sa.column("is_partial", sa.Boolean()),
)
pilot_transitions = sa.table("pilot_transitions", sa.column("pilot_id", sa.Uuid()))


def upgrade() -> None:
    op.bulk_insert(
        pilots,
        [
            {
                "id": uuid.UUID(pilot_id),
                "name": name,
                "kind": kind,
                "province_code": province,
                "batch": 1,
                # Designated by the ministries; none has passed its acceptance (验收) yet.
                "status": "approved",
                "designation_ref": DESIGNATION,
                "created_at": LOADED_AT,
                "updated_at": LOADED_AT,
            }
            for pilot_id, name, kind, province, _ in PILOTS
        ],
    )
    op.bulk_insert(
        pilot_regions,
        [
            {
                "pilot_id": uuid.UUID(pilot_id),
                "region_code": code.removesuffix("*"),
                "is_partial": code.endswith("*"),
            }
            for pilot_id, _, _, _, codes in PILOTS
            for code in codes.split()
        ],
    )


def downgrade() -> None:
    ids = [uuid.UUID(pilot_id) for pilot_id, *_ in PILOTS]
    # Explicit deletes: SQLite enforces ON DELETE CASCADE only with a pragma the migration
    # connection need not have.
    op.execute(pilot_transitions.delete().where(pilot_transitions.c.pilot_id.in_(ids)))
    op.execute(pilot_regions.delete().where(pilot_regions.c.pilot_id.in_(ids)))
    op.execute(pilots.delete().where(pilots.c.id.in_(ids)))
