"""Classes defined in the script must pickle, and multiprocessing spawn must work."""
import multiprocessing as mp
import pickle


class Point:
    def __init__(self, x):
        self.x = x


def square(point):
    return point.x * point.x


if __name__ == "__main__":
    assert pickle.loads(pickle.dumps(Point(3))).x == 3
    with mp.get_context("spawn").Pool(2) as pool:
        print("squares", pool.map(square, [Point(i) for i in range(5)]))
