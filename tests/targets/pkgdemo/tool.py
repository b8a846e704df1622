import sys

print("argv", sys.argv)
print("name", __name__)
print("file", __file__)
print("path0", sys.path[0])
print("spec", __spec__.name)
print("package", __package__)
