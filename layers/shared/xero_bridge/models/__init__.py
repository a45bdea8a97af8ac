"""xero_bridge.models"""
