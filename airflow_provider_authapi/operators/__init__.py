"""Operators."""

from airflow_provider_authapi.operators.authapi import AuthApiOperator

__all__ = ["AuthApiOperator"]
