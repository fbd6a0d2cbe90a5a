// SPDX-License-Identifier: LGPL-2.1-or-later
// Churn: the JVM workload of tests/bench/jvm. `java Churn LIVE_MIB THREADS`
// keeps LIVE_MIB MiB of long-lived data (4 KiB arrays of longs) and runs
// THREADS threads that each, in a loop, allocate short-lived objects (the
// churn a server's requests make) and now and then replace a random
// long-lived array with a fresh one (so the old generation changes too).
// Prints "ready pid=P" once the live data is filled, then every second
// "rate OPS" (operations in that second, all threads). One operation: a
// short-lived object of 16-1024 bytes allocated, summed and dropped.
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLongArray;

public final class Churn {
    static long[][] live;
    static volatile long sink;

    public static void main(String[] args) throws Exception {
        int liveMiB = Integer.parseInt(args[0]);
        int threads = Integer.parseInt(args[1]);
        int n = liveMiB * 256; // 4 KiB each
        live = new long[n][];
        for (int i = 0; i < n; i++) {
            long[] a = new long[512];
            for (int j = 0; j < a.length; j++)
                a[j] = (long) i * 512 + j;
            live[i] = a;
        }
        AtomicLongArray ops = new AtomicLongArray(threads * 8);
        for (int t = 0; t < threads; t++) {
            final int slot = t * 8;
            Thread th = new Thread(() -> work(ops, slot), "churn-" + t);
            th.setDaemon(true);
            th.start();
        }
        System.out.println("ready pid=" + ProcessHandle.current().pid());
        System.out.flush();
        long last = 0;
        while (true) {
            Thread.sleep(1000);
            long sum = 0;
            for (int t = 0; t < threads; t++)
                sum += ops.get(t * 8);
            System.out.println("rate " + (sum - last));
            System.out.flush();
            last = sum;
        }
    }

    static void work(AtomicLongArray ops, int slot) {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        long local = 0, count = 0;
        while (true) {
            byte[] b = new byte[16 + r.nextInt(1009)];
            b[r.nextInt(b.length)] = (byte) count;
            local += b[0] + b.length;
            if ((count & 16383) == 0) {
                long[] a = new long[512];
                a[r.nextInt(512)] = local;
                live[r.nextInt(live.length)] = a;
            }
            if ((++count & 255) == 0) {
                ops.addAndGet(slot, 256);
                sink = local;
            }
        }
    }
}
