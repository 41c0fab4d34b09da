"""issuer"""
