"""vendors/ailabtools"""
