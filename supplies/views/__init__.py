"""Supplies screens, a module a screen: the nurse's tablet, below par and the pick list, reorder
and purchase orders, cycle counts, expiry, levels with suggested par, the item-master import.
"""
