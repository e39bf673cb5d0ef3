"""A checker of climatelib's IATI 2.03 export, written from the standard's documentation.

``check`` validates a document against the subset schema beside this file (element order,
occurrences, required attributes, code lists, date formats) and then the rules the standard
states in words that a schema cannot: every narrative in a known language, sector percentages of
one vocabulary adding up to 100, the iati-identifier beginning with the reporting-org's ref,
the reporting-org the same in every activity, an activity's transactions in its default
currency, and a point's latitude and longitude within range.
"""

from decimal import Decimal
from pathlib import Path

from lxml import etree

SCHEMA_DIR = Path(__file__).parent / "iati_schema"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
LANGUAGES = {"zh", "en"}


def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "iati-activities-2.03-subset.xsd")))


def check(document: bytes) -> etree._Element:
    """The document's root when the document passes; AssertionError naming the fault if not."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(document, parser)
    validator = schema()
    assert validator.validate(root), validator.error_log.filter_from_errors()
    reporting = {a.find("reporting-org").get("ref") for a in root.iter("iati-activity")}
    assert len(reporting) <= 1, reporting
    identifiers = [a.findtext("iati-identifier") for a in root.iter("iati-activity")]
    assert len(identifiers) == len(set(identifiers)), "iati-identifier repeated"
    for activity in root.iter("iati-activity"):
        ref = activity.find("reporting-org").get("ref")
        identifier = activity.findtext("iati-identifier")
        assert identifier.startswith(f"{ref}-"), identifier
        for narrative in activity.iter("narrative"):
            lang = narrative.get(XML_LANG) or activity.get(XML_LANG)
            assert lang in LANGUAGES, lang
        shares: dict[str, Decimal] = {}
        for sector in activity.findall("sector"):
            vocabulary = sector.get("vocabulary", "1")
            shares[vocabulary] = shares.get(vocabulary, Decimal(0)) + Decimal(
                sector.get("percentage")
            )
        assert all(total == 100 for total in shares.values()), shares
        currency = activity.get("default-currency")
        for value in activity.iter("value"):
            assert value.get("currency", currency) == currency == "CNY"
        for pos in activity.iter("pos"):
            lat, lon = (float(p) for p in pos.text.split())
            assert -90 <= lat <= 90 and -180 <= lon <= 180
    return root
