import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * What the examples share: money as they (and wpwctl) print it, minor units in major units with the
 * currency's ISO 4217 decimals, then the code ("12.50 GBP", "500 JPY"); and a tiny option parser.
 */
final class Money {
    private Money() {}

    private static final Set<String> ZERO = Set.of("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
            "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF");
    private static final Set<String> THREE = Set.of("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND");
    private static final Set<String> FOUR = Set.of("CLF", "UYW");

    /** An amount in minor units as text: format(1500, "GBP") is "15.00 GBP". */
    static String format(long amount, String currency) {
        int decimals = ZERO.contains(currency) ? 0 : THREE.contains(currency) ? 3 : FOUR.contains(currency) ? 4 : 2;
        String sign = amount < 0 ? "-" : "";
        long magnitude = Math.abs(amount);
        if (decimals == 0) {
            return sign + magnitude + " " + currency;
        }
        long scale = (long) Math.pow(10, decimals);
        return String.format("%s%d.%0" + decimals + "d %s", sign, magnitude / scale, magnitude % scale, currency);
    }

    /** {@code --name value} pairs; an unknown option or a missing value exits with status 2. */
    static Map<String, String> options(String[] args, String... known) {
        Map<String, String> options = new HashMap<>();
        Set<String> names = Set.of(known);
        for (int i = 0; i < args.length; i++) {
            if (!names.contains(args[i]) || i + 1 >= args.length) {
                System.err.println("usage: " + String.join(" VALUE ", known) + " VALUE (all optional); bad: " + args[i]);
                System.exit(2);
            }
            options.put(args[i], args[++i]);
        }
        return options;
    }
}
