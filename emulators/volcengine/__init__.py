"""emulators/volcengine"""
