"""vendors/tencent"""
