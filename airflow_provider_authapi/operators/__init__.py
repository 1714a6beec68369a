"""Operators."""

from airflow_provider_authapi.operators.authapi import AuthApiOperator
from airflow_provider_authapi.operators.reports import AuthApiReportOperator

__all__ = ["AuthApiOperator", "AuthApiReportOperator"]
