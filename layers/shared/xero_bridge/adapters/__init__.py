"""xero_bridge.adapters"""
