"""Sensors."""

from airflow_provider_authapi.sensors.authapi import AuthApiSensor

__all__ = ["AuthApiSensor"]
