"""emulators/tencent"""
