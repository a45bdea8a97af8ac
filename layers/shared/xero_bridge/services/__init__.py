"""xero_bridge.services"""
