package flightpipe.hadoop;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FilterFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.ReflectionUtils;

/**
 * A file system of one job run, for a local Spark that runs many Glue job runs, each with its
 * own role's credentials.
 *
 * <p>Hadoop caches file systems by scheme, bucket and user, never by configuration, so a run's
 * credentials in its SparkSession's configuration would reach S3 only through the first run's
 * cached instance. A run's session configures this class for {@code s3://} and {@code s3a://}
 * with the cache off and its run id in {@code flightpipe.run.id}: each lookup then gets a new,
 * light instance of this class that delegates to the one real file system
 * ({@code flightpipe.run.fs.impl}, S3A) of that run and bucket, created from the run's
 * configuration on first use and closed by {@link #closeRun} when the run ends.
 */
public class RunFileSystem extends FilterFileSystem {
  public static final String RUN_KEY = "flightpipe.run.id";
  public static final String IMPL_KEY = "flightpipe.run.fs.impl";

  private static final Map<String, FileSystem> OPEN = new HashMap<>();

  @Override
  public void initialize(URI name, Configuration conf) throws IOException {
    String run = conf.getTrimmed(RUN_KEY, "");
    if (run.isEmpty()) {
      throw new IOException(RUN_KEY + " is not set: " + getClass().getName()
          + " serves the file systems of a job run's session only");
    }
    String key = run + " " + name.getScheme() + "://" + name.getAuthority();
    synchronized (OPEN) {
      FileSystem delegate = OPEN.get(key);
      if (delegate == null) {
        Class<? extends FileSystem> impl = conf.getClass(IMPL_KEY, null, FileSystem.class);
        if (impl == null) {
          throw new IOException(IMPL_KEY + " is not set: the file system to delegate to");
        }
        delegate = ReflectionUtils.newInstance(impl, conf);
        delegate.initialize(name, conf);
        OPEN.put(key, delegate);
      }
      this.fs = delegate;
    }
    super.initialize(name, conf);
  }

  /**
   * S3 has no directories: one exists once an object is written under it, and so it is here.
   * S3A's mkdirs would read every ancestor of the path as an object (for
   * quarantine/date=.../_temporary/0, a HEAD of the key "quarantine") and write a marker. AWS
   * Glue serves s3:// with EMRFS, not S3A, and documents what a data target needs of the job's
   * role (s3:ListBucket, s3:PutObject, s3:DeleteObject), none of it on a prefix's bare name, so
   * the local IAM check would refuse a call the job never makes on AWS.
   */
  @Override
  public boolean mkdirs(Path path, FsPermission permission) {
    return true;
  }

  @Override
  public boolean mkdirs(Path path) {
    return true;
  }

  /** The run's file systems stay open until the run ends ({@link #closeRun}). */
  @Override
  public void close() {}

  /** Close the file systems of {@code run}; returns how many there were. */
  public static int closeRun(String run) throws IOException {
    List<FileSystem> closing = new ArrayList<>();
    synchronized (OPEN) {
      Iterator<Map.Entry<String, FileSystem>> entries = OPEN.entrySet().iterator();
      while (entries.hasNext()) {
        Map.Entry<String, FileSystem> entry = entries.next();
        if (entry.getKey().startsWith(run + " ")) {
          closing.add(entry.getValue());
          entries.remove();
        }
      }
    }
    IOException failed = null;
    for (FileSystem fs : closing) {
      try {
        fs.close();
      } catch (IOException error) {
        failed = error;
      }
    }
    if (failed != null) {
      throw failed;
    }
    return closing.size();
  }

  /** How many runs' file systems are open (tests check none is left behind). */
  public static int openCount() {
    synchronized (OPEN) {
      return OPEN.size();
    }
  }
}
