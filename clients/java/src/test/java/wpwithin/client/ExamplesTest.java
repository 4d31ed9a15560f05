package wpwithin.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * The example apps in clients/java/examples, run as their own JVMs against real daemons. Their classes
 * are in {@code -Dwpw.examples} (scripts/test-java.sh compiles them), the client's in {@code -Dwpw.client}.
 */
class ExamplesTest {
    static final class Example {
        final Process process;
        final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final StringBuilder out = new StringBuilder();
        final CompletableFuture<String> err;

        Example(String main, String... args) throws IOException {
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp", System.getProperty("wpw.client") + ":" + System.getProperty("wpw.examples"), main));
            command.addAll(List.of(args));
            ProcessBuilder builder = new ProcessBuilder(command);
            builder.environment().remove("WPWITHIN_SOCKET");
            process = builder.start();
            synchronized (Harness.PROCESSES) {
                Harness.PROCESSES.add(process);
            }
            Thread reader = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null;) {
                        lines.add(line);
                    }
                } catch (IOException ignored) {
                    // ended
                }
                lines.add("\u0000EOF");
            });
            reader.setDaemon(true);
            reader.start();
            err = CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException error) {
                    return "";
                }
            });
        }

        /** Reads stdout until a line contains {@code needle}; the rest stays readable. */
        String waitFor(String needle, long seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (System.nanoTime() < deadline) {
                String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (line == null || line.equals("\u0000EOF")) {
                    break;
                }
                out.append(line).append('\n');
                if (line.contains(needle)) {
                    return out.toString();
                }
            }
            process.destroyForcibly();
            throw new AssertionError("no '" + needle + "' from the example; got " + out + " stderr: " + stderr());
        }

        /** Waits for the exit; returns the status, with all of stdout read. */
        int finish(long seconds) throws InterruptedException {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("the example did not exit; got " + out);
            }
            for (String line; (line = lines.poll(5, TimeUnit.SECONDS)) != null && !line.equals("\u0000EOF");) {
                out.append(line).append('\n');
            }
            return process.exitValue();
        }

        String stderr() {
            try {
                return err.get(5, TimeUnit.SECONDS);
            } catch (Exception error) {
                return "";
            }
        }
    }

    @Test
    void theCarwashProducerAndTheConsumerExamples() throws Exception {
        try (Harness.World world = new Harness.World(Harness.sandbox(), null, "carwash")) {
            Example producer = new Example("CarwashProducer", "--socket", world.producer.socketPath, "--deliveries", "2");
            try {
                String head = producer.waitFor("ready:", 60);
                assertTrue(head.contains("service 1 registered: Car wash, 5.00 GBP a wash"), head);

                Example consumer = new Example("Consumer", "--socket", world.consumer.socketPath, "--name", "carwash");
                assertEquals(0, consumer.finish(90), consumer.out + consumer.stderr());
                String out = consumer.out.toString();
                List<String> phases = new ArrayList<>();
                for (String line : out.split("\n")) {
                    phases.add(line.split(":")[0]);
                }
                assertEquals(List.of("discovered", "service 1", "price 1", "selected", "paid", "delivery 1 begun", "delivery 1 ended",
                        "delivery 2 begun", "delivery 2 ended", "done"), phases, out);
                assertTrue(out.contains("3 unit(s) for 15.00 GBP") && out.contains(", 15.00 GBP, 3 unit(s)") && out.contains(", 5.00 GBP per "), out);
                assertTrue(out.contains("delivery 1 begun: 2 unit(s)") && out.contains("delivery 2 begun: 1 unit(s)"), out);
                assertTrue(out.contains("3 delivered, 0 remaining"), out);

                assertEquals(0, producer.finish(30), producer.out + producer.stderr());
                String produced = producer.out.toString();
                assertEquals(2, produced.split("delivery begun:", -1).length - 1, produced);
                assertEquals(2, produced.split("delivery ended:", -1).length - 1, produced);
                assertTrue(produced.contains("3 of 3 delivered") && produced.contains("stopped after 2 deliveries"), produced);
                assertTrue(!produced.contains("4444333322221111") && !consumer.stderr().contains("4444333322221111"), "no PAN in output");
            } finally {
                producer.process.destroyForcibly();
            }

            // Ctrl-C (SIGINT): it exits 0; run again, the service is already there. (Not Process.destroy(): it
            // closes our ends of the example's pipes, and the example's last lines would be lost.)
            Example again = new Example("CarwashProducer", "--socket", world.producer.socketPath);
            try {
                assertTrue(again.waitFor("ready:", 60).contains("service 1 already registered"));
                assertEquals(0, new ProcessBuilder("kill", "-INT", String.valueOf(again.process.pid())).start().waitFor());
                assertEquals(0, again.finish(20), again.out + again.stderr());
                assertTrue(again.out.toString().contains("interrupted"), again.out + again.stderr());
            } finally {
                again.process.destroyForcibly();
            }
        }
    }

    @Test
    void theConsumerExampleWithoutADaemon() throws Exception {
        Path dir = Harness.tempDir("wpw-jex-");
        try {
            Example consumer = new Example("Consumer", "--socket", dir.resolve("none.sock").toString(), "--name", "x");
            assertEquals(1, consumer.finish(60));
            assertTrue(consumer.stderr().contains("no such socket"), consumer.stderr());
        } finally {
            Harness.deleteTree(dir);
        }
    }
}
