"""Apache Airflow provider for authenticated REST APIs."""

__version__ = "0.1.0"
