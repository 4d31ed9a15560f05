package wpwithin.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void readsAndWritesWhatJsonRpcNeeds() {
        JsonObject value = JsonObject.parse(" {\"a\":[1,-2.5e1,true,false,null,\"\\u00e9\\n\\ud83d\\ude00\"],\"b\":{},\"c\":[]} ");
        assertEquals(List.of(1L, -25.0, true, false), value.getList("a").subList(0, 4));
        assertNull(value.getList("a").get(4));
        assertEquals("é\n😀", value.getList("a").get(5));
        assertEquals("{\"a\":[1,-25,true,false,null,\"é\\n😀\"],\"b\":{},\"c\":[]}", Json.write(value));
        assertEquals(9223372036854775807L, Json.parse("9223372036854775807"));
        assertEquals(new BigInteger("9223372036854775808"), Json.parse("9223372036854775808"));
        assertEquals("[1,\"x\",null]", Json.write(new Object[] {1, "x", null}));
        assertEquals("\"\\u0001\\\"\\\\\"", Json.write("\u0001\"\\"));
        assertEquals(Arrays.asList(0.5), Json.parse("[0.5]"));
    }

    @Test
    void refusesWhatIsNotJson() {
        for (String bad : List.of("", "{", "[1,]", "{\"a\" 1}", "01", "1.", "tru", "\"\u0001\"", "\"\\x\"", "{} x", "NaN", "[1e]")) {
            assertThrows(Json.JsonException.class, () -> Json.parse(bad), bad);
        }
        assertThrows(Json.JsonException.class, () -> Json.parse("[".repeat(600) + "]".repeat(600)));
        assertThrows(Json.JsonException.class, () -> Json.write(Double.NaN));
        assertThrows(Json.JsonException.class, () -> Json.write(new Object()));
    }
}
