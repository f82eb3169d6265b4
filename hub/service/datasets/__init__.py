"""Tenant data sources: one connector interface over files, S3, SQL, Hive and HDFS,
credentials encrypted at rest, and the store that keeps sources per tenant.

Modules: ``connector`` (the interface, its results, error classification),
``paths`` (paths never leave a root), ``formats`` (CSV/Parquet/JSON lines
samples through pyarrow), one module per kind (``files``, ``s3``, ``sql``,
``hive``, ``hdfs``), ``kinds`` (settings of each kind, which are secret, building
a connector), ``secrets`` (Fernet keys and rotation), ``store`` (the DB table).
"""
