"""Plumbing shared by the platform's Flask services (apps/iot_api, apps/dsa_agent).

Each module takes what differs between the services (logger name, environment prefix, realm,
temporary directory prefix) as an argument; nothing here knows either application.
"""
__version__ = "0.1.0"
