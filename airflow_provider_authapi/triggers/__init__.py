"""Triggers."""

from airflow_provider_authapi.triggers.authapi import AuthApiTrigger
from airflow_provider_authapi.triggers.reports import AuthApiReportTrigger

__all__ = ["AuthApiReportTrigger", "AuthApiTrigger"]
