"""climatelib: the national climate investment and financing project library.

国家气候投融资项目库.
"""

__version__ = "0.1.0"
