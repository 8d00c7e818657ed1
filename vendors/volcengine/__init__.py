"""vendors/volcengine"""
