package flightpipe.hadoop;

import com.amazonaws.auth.AWSCredentials;
import com.amazonaws.auth.AWSCredentialsProvider;
import com.amazonaws.auth.BasicSessionCredentials;
import java.net.URI;
import org.apache.hadoop.conf.Configuration;

/**
 * A job run's session credentials for its S3A file systems ({@link RunFileSystem}), read once
 * from the run's configuration ({@code fs.s3a.access.key}, {@code fs.s3a.secret.key},
 * {@code fs.s3a.session.token}).
 *
 * <p>Hadoop 3.3.1's TemporaryAWSCredentialsProvider reads them on first use and tells a second
 * thread that asks meanwhile that it "has no credentials" (its init marks itself done before it
 * has them), which a new file system read by Spark's parallel path checks runs into. This one
 * has them from its constructor.
 */
public class RunCredentials implements AWSCredentialsProvider {
  private final AWSCredentials credentials;

  public RunCredentials(URI uri, Configuration conf) {
    String key = conf.getTrimmed("fs.s3a.access.key", "");
    String secret = conf.getTrimmed("fs.s3a.secret.key", "");
    String token = conf.getTrimmed("fs.s3a.session.token", "");
    if (key.isEmpty() || secret.isEmpty() || token.isEmpty()) {
      throw new IllegalArgumentException("a job run's file system for " + uri
          + " needs fs.s3a.access.key, fs.s3a.secret.key and fs.s3a.session.token");
    }
    credentials = new BasicSessionCredentials(key, secret, token);
  }

  @Override
  public AWSCredentials getCredentials() {
    return credentials;
  }

  @Override
  public void refresh() {}
}
