from tests.fakedev_sysfs.helpers import make_fake

__all__ = ["make_fake"]
