"""Cloud storage clients: a boto3 (botocore) client crosses as its service, region and
endpoint, a Google Cloud Storage client, bucket or blob as its project and names; the worker
builds them anew with its own ambient credentials (none are ever put in a recipe)."""

from __future__ import annotations

from typing import Any

from taskito.proxies.handler import FieldSpec
from taskito.proxies.handlers.lazy import loaded_classes


class Boto3ClientHandler:
    name = "boto3_client"
    version = 1
    schema = {
        "service_name": FieldSpec(str),
        "region_name": FieldSpec(str, required=False),
        "endpoint_url": FieldSpec(str, required=False),
    }

    @property
    def handled_types(self) -> tuple[type, ...]:
        return loaded_classes(["botocore.client:BaseClient"])

    def detect(self, obj: Any) -> bool:
        types = self.handled_types
        return bool(types) and isinstance(obj, types)

    def deconstruct(self, obj: Any) -> dict[str, Any]:
        meta = obj.meta
        return {
            "service_name": meta.service_model.service_name,
            "region_name": meta.region_name,
            "endpoint_url": meta.endpoint_url,
        }

    def reconstruct(self, recipe: dict[str, Any], version: int) -> Any:
        import boto3

        return boto3.client(
            recipe["service_name"],
            region_name=recipe.get("region_name"),
            endpoint_url=recipe.get("endpoint_url"),
        )

    def cleanup(self, obj: Any) -> None:
        close = getattr(obj, "close", None)
        if close is not None:
            close()


_GCS = "google.cloud.storage"


class GcsClientHandler:
    name = "gcs_client"
    version = 1
    schema = {
        "type": FieldSpec(str),
        "project": FieldSpec(str, required=False),
        "bucket_name": FieldSpec(str, required=False),
        "blob_name": FieldSpec(str, required=False),
    }

    @property
    def handled_types(self) -> tuple[type, ...]:
        return loaded_classes(
            [f"{_GCS}.client:Client", f"{_GCS}.bucket:Bucket", f"{_GCS}.blob:Blob"]
        )

    def detect(self, obj: Any) -> bool:
        types = self.handled_types
        return bool(types) and isinstance(obj, types)

    def deconstruct(self, obj: Any) -> dict[str, Any]:
        kind = type(obj).__name__.lower()
        if kind == "blob":
            client, bucket_name, blob_name = obj.client, obj.bucket.name, obj.name
        elif kind == "bucket":
            client, bucket_name, blob_name = obj.client, obj.name, None
        else:
            client, bucket_name, blob_name = obj, None, None
        return {
            "type": kind,
            "project": client.project,
            "bucket_name": bucket_name,
            "blob_name": blob_name,
        }

    def reconstruct(self, recipe: dict[str, Any], version: int) -> Any:
        from google.cloud import storage

        client = storage.Client(project=recipe.get("project"))
        if recipe["type"] == "client":
            return client
        bucket = client.bucket(recipe["bucket_name"])
        return bucket if recipe["type"] == "bucket" else bucket.blob(recipe["blob_name"])

    def cleanup(self, obj: Any) -> None:
        close = getattr(obj, "close", None)
        if callable(close):
            close()


__all__ = ["Boto3ClientHandler", "GcsClientHandler"]
