"""The enhanced customer dimension as a Common Data Model folder (model.json + CSV partitions).

Readers of CDM folders (Power BI dataflows, Azure Data Lake CDM folders, Dynamics 365
Customer Insights) find the entities, their typed attributes and their data files in
model.json. `model.schema.json` is Microsoft's published JSON schema of that file (see
MODEL_SCHEMA_NOTICE.md), shipped so the export can be validated against it offline.
"""
from sinks.cdm_export.export import DEFAULT_VIEWS, CdmExportError, export_cdm

__all__ = ["DEFAULT_VIEWS", "CdmExportError", "export_cdm"]
