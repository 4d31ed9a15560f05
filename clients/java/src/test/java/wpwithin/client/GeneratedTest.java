package wpwithin.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

import wpwithin.client.types.OpenRpcDocument;
import wpwithin.client.types.Quote;

/** The generated layer matches the daemon and docs/rpc.md. */
class GeneratedTest {
    @Test
    void everyMethodOfALiveDaemonHasABlockingAndAFutureMethod() throws IOException {
        try (Harness.Daemon daemon = Harness.lone(); WPWithinClient client = daemon.client()) {
            OpenRpcDocument document = client.discover();
            Set<String> live = new HashSet<>();
            JsonObject params = new JsonObject();
            for (Object entry : document.getList("methods")) {
                JsonObject method = (JsonObject) entry;
                live.add(method.getString("name"));
                JsonObject table = new JsonObject();
                for (Object p : method.getList("params")) {
                    JsonObject param = (JsonObject) p;
                    table.put(param.getString("name"), JsonObject.of("required", Boolean.TRUE.equals(param.getBoolean("required")),
                            "schema", param.getObject("schema")));
                }
                params.put(method.getString("name"), table);
            }
            assertEquals(new HashSet<>(Schemas.METHODS), live, "refresh clients/java/openrpc.json and run tools/Generate.java");
            assertEquals(params, Schemas.PARAMS, "the parameters differ from the daemon's");
            for (String name : live) {
                String java = name.equals("rpc.discover") ? "discover" : name;
                Method blocking = find(java);
                Method future = find(java + "Async");
                assertNotNull(blocking, name);
                assertNotNull(future, name);
                assertSame(CompletableFuture.class, future.getReturnType(), name);
                if (!name.equals("subscribe")) { // written by hand, with overloads
                    assertEquals(blocking.getParameterCount(), future.getParameterCount(), name);
                }
            }
        }
    }

    /** The public method of that name with the most parameters (all-optional ones also have a no-argument form). */
    private static Method find(String name) {
        Method found = null;
        for (Method method : WPWithinClient.class.getMethods()) {
            if (method.getName().equals(name) && Modifier.isPublic(method.getModifiers())
                    && (found == null || method.getParameterCount() > found.getParameterCount())) {
                found = method;
            }
        }
        return found;
    }

    @Test
    void everyErrorCodeOfDocsRpcMdHasItsOwnException() throws IOException {
        String rpcMd = Files.readString(Harness.repo().resolve("docs/rpc.md"));
        Matcher row = Pattern.compile("(?m)^\\| (-\\d+) \\| (\\w+) \\|").matcher(rpcMd);
        Map<Integer, String> documented = new LinkedHashMap<>();
        while (row.find()) {
            documented.put(Integer.parseInt(row.group(1)), row.group(2));
        }
        assertTrue(documented.size() >= 30);
        assertEquals(documented, Errors.NAMES);
        Set<Class<?>> classes = new HashSet<>();
        for (Map.Entry<Integer, String> code : documented.entrySet()) {
            WPWithinException error = Errors.fromError(code.getKey(), "m", JsonObject.of("field", "x"), "getDevice");
            assertEquals(code.getKey(), error.code());
            assertEquals(code.getValue(), error.codeName());
            assertTrue(classes.add(error.getClass()), "one class per code");
            assertTrue(error.getClass() != WPWithinException.class);
            assertTrue(error.getMessage().contains(code.getValue()));
        }
        WPWithinException unknown = Errors.fromError(-31999, "new", null, null);
        assertSame(WPWithinException.class, unknown.getClass());
        assertEquals(-31999, unknown.code());
        // What rpc.discover lists per method is mapped too.
        for (Object entry : JsonObject.parse(Files.readString(Harness.repo().resolve("clients/java/openrpc.json"))).getList("methods")) {
            List<Object> errors = ((JsonObject) entry).getList("errors");
            for (Object e : errors == null ? List.of() : errors) {
                JsonObject error = (JsonObject) e;
                assertEquals(error.getString("message"), Errors.NAMES.get(error.getLong("code").intValue()));
            }
        }
    }

    @Test
    void wrapperResultsReadTheirMembersWithTheHelpers() {
        // A typed record keeps the JSON it was read from, and the helpers read it as the wrappers did.
        Quote quote = Quote.fromJson(JsonObject.parse("{\"currencyCode\":\"GBP\",\"merchantClientKey\":\"k\",\"paymentReferenceId\":\"r\","
                + "\"priceId\":1,\"serverId\":\"s\",\"serviceId\":1,\"totalPrice\":9007199254740993,\"unitsToSupply\":1}"));
        assertEquals(9007199254740993L, quote.totalPrice());
        assertEquals("r", quote.getString("paymentReferenceId"));
        assertEquals(9007199254740993L, quote.getLong("totalPrice")); // beyond a double's exact range
        assertTrue(quote.has("totalPrice"));
    }

    @Test
    void aResultThatDoesNotFitItsSchemaIsAnInvalidResponse() {
        InvalidResponseException wrong = org.junit.jupiter.api.Assertions.assertThrows(InvalidResponseException.class,
                () -> wpwithin.client.types.Device.fromJson(JsonObject.parse("{\"serverId\":1,\"name\":\"n\",\"description\":\"d\",\"version\":\"v\",\"roles\":[]}")));
        assertTrue(wrong.getMessage().contains("serverId"), wrong.getMessage());
    }
}
