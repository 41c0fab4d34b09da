"""redeem_api"""
