"""xero_bridge.domain"""
