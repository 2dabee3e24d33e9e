import java.util.concurrent.*;
import java.util.*;
public class ThreadPool {
  public static void main(String[] a) throws Exception {
    ExecutorService ex = Executors.newFixedThreadPool(4);
    List<Future<Long>> fs = new ArrayList<>();
    for (int t = 0; t < 4; t++) { final int k = t; fs.add(ex.submit(() -> { long s = 0; for (int i = 0; i < 3000000; i++) s += (i ^ k) % 7; return s; })); }
    long tot = 0; for (Future<Long> f : fs) tot += f.get();
    ex.shutdown();
    System.out.println(tot + " " + System.nanoTime() + " " + new Random().nextInt() + " " + UUID.randomUUID());
  }
}
