"""emulators/ailabtools"""
