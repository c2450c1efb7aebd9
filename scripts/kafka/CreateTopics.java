import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates Tollgate's contract topics on a local broker (used by scripts/kafka.sh).
 * Usage: CreateTopics <bootstrap> <partitions>. Existing topics are left as they are.
 */
public class CreateTopics {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        int partitions = Integer.parseInt(args[1]);
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        List<NewTopic> topics = new ArrayList<>();
        topics.add(new NewTopic("tollgate.requests.v1", partitions, (short) 1));
        topics.add(new NewTopic("tollgate.violations.v1", partitions, (short) 1));
        topics.add(new NewTopic("tollgate.decisions.v1", partitions, (short) 1)
            .configs(Map.of("cleanup.policy", "compact", "min.cleanable.dirty.ratio", "0.1",
                            "segment.ms", "600000")));
        topics.add(new NewTopic("tollgate.dlq.v1", 1, (short) 1));
        topics.add(new NewTopic("tollgate.prompts.v1", partitions, (short) 1)
            .configs(Map.of("retention.ms", "3600000")));
        try (Admin admin = Admin.create(props)) {
            int failed = 0;
            for (var e : admin.createTopics(topics).values().entrySet()) {
                try {
                    e.getValue().get(30, TimeUnit.SECONDS);
                } catch (ExecutionException ex) {
                    if (!(ex.getCause() instanceof TopicExistsException)) {
                        System.err.println("create " + e.getKey() + " failed: " + ex.getCause());
                        failed++;
                    }
                }
            }
            System.exit(failed == 0 ? 0 : 1);
        }
    }
}
