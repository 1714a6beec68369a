"""Triggers."""

from airflow_provider_authapi.triggers.authapi import AuthApiTrigger

__all__ = ["AuthApiTrigger"]
