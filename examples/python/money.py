"""Money as the examples (and wpwctl) print it: minor units in major units with the currency's ISO 4217
decimals, then the code: 1250 GBP is "12.50 GBP", 500 JPY is "500 JPY"."""

# Currencies whose minor unit is not a hundredth (the others the daemon accepts have two decimals).
_DECIMALS = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


def money(amount: int, currency: str) -> str:
    """An amount in minor units as text, e.g. money(1500, "GBP") == "15.00 GBP"."""
    decimals = _DECIMALS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10 ** decimals)
    return f"{sign}{major}.{minor:0{decimals}d} {currency}" if decimals else f"{sign}{major} {currency}"
