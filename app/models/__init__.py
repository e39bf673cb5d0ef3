"""SQLAlchemy tables, one module per aggregate. Importing this package registers them all."""

from app.models.api_key import ApiKey, Role
from app.models.audit import AuditEvent, AuditSeal
from app.models.base import Base
from app.models.document import Document, DocumentType, DocumentVisibility
from app.models.engagement import (
    Engagement,
    EngagementStatus,
    NotFinancedReason,
    Payment,
    PaymentKind,
)
from app.models.idempotency import IdempotencyRecord
from app.models.import_job import ImportJob, ImportResult, ImportStatus, ImportUpload
from app.models.institution import Institution, InstitutionType
from app.models.monitoring import CarbonCreditScheme, MonitoringReport, ReportStatus
from app.models.pilot import Pilot, PilotKind, PilotRegion, PilotStatus
from app.models.product import (
    MatchingChange,
    MatchingState,
    Product,
    ProductStatus,
    ProductType,
)
from app.models.project import (
    ConstructionStatus,
    ExitReason,
    LibrarySequence,
    Nature,
    Objective,
    Project,
    ProjectStatus,
)
from app.models.revision import ProjectRevision, RevisionStatus
from app.models.webhook import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookMatchDay,
    WebhookMatchState,
    WebhookOutbox,
    WebhookSubscription,
)

__all__ = [
    "ApiKey",
    "AuditEvent",
    "AuditSeal",
    "Base",
    "CarbonCreditScheme",
    "ConstructionStatus",
    "DeliveryStatus",
    "Document",
    "DocumentType",
    "DocumentVisibility",
    "Engagement",
    "EngagementStatus",
    "ExitReason",
    "IdempotencyRecord",
    "ImportJob",
    "ImportResult",
    "ImportStatus",
    "ImportUpload",
    "Institution",
    "InstitutionType",
    "LibrarySequence",
    "MatchingChange",
    "MatchingState",
    "MonitoringReport",
    "Nature",
    "NotFinancedReason",
    "Objective",
    "Payment",
    "PaymentKind",
    "Pilot",
    "PilotKind",
    "PilotRegion",
    "PilotStatus",
    "Product",
    "ProductStatus",
    "ProductType",
    "Project",
    "ProjectRevision",
    "ProjectStatus",
    "ReportStatus",
    "RevisionStatus",
    "Role",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookMatchDay",
    "WebhookMatchState",
    "WebhookOutbox",
    "WebhookSubscription",
]
