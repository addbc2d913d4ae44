#include <gtest/gtest.h>

#include "goretain/v1/ingest.pb.h"
#include "goretain/v1/snapshot.pb.h"

namespace goretain {
namespace {

TEST(ProtoTest, HeaderRoundTrips) {
  v1::SnapshotHeader h;
  h.set_format_version(1);
  h.set_snapshot_uid("node-a/1234/1700000000");
  h.mutable_taken_at()->set_seconds(1700000000);
  auto* t = h.mutable_target();
  t->set_node("node-a");
  t->set_namespace_("shop");
  t->set_pod("cart-7d9f");
  t->set_container("cart");
  t->set_pid(1234);
  t->set_executable_path("/app/cart");
  t->set_build_id("a1b2c3");
  t->set_go_version("go1.25.14 X:greenteagc");
  h.mutable_trigger()->set_reason(v1::Trigger::REASON_LIMIT_PERCENT);
  auto* tv = h.mutable_trigger()->add_values();
  tv->set_name("cgroup_usage_percent");
  tv->set_value(83.5);
  tv->set_threshold(80);
  h.mutable_runtime()->set_heap_marked(123456789);
  h.mutable_runtime()->set_num_gc(42);
  (*h.mutable_analysis()->mutable_damage())["bad_span"] = 2;
  h.mutable_pause()->set_mode(v1::Pause::MODE_STOP_AND_COPY);
  h.mutable_pause()->set_pause_us(4200);

  std::string wire;
  ASSERT_TRUE(h.SerializeToString(&wire));
  v1::SnapshotHeader back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.target().namespace_(), "shop");
  EXPECT_EQ(back.target().go_version(), "go1.25.14 X:greenteagc");
  EXPECT_EQ(back.trigger().reason(), v1::Trigger::REASON_LIMIT_PERCENT);
  EXPECT_DOUBLE_EQ(back.trigger().values(0).value(), 83.5);
  EXPECT_EQ(back.runtime().heap_marked(), 123456789u);
  EXPECT_EQ(back.analysis().damage().at("bad_span"), 2u);
  EXPECT_EQ(back.pause().pause_us(), 4200u);
  EXPECT_EQ(back.SerializeAsString(), wire);
}

TEST(ProtoTest, PathNodeRoundTripsInsideAnIngestMessage) {
  v1::IngestMessage m;
  auto* n = m.mutable_paths()->add_nodes();
  n->set_id(0xfedcba9876543210ull);
  n->set_parent_id(0x0123456789abcdefull);
  n->mutable_frame()->set_kind(v1::FRAME_KIND_MAP_VALUE);
  n->mutable_frame()->set_name("$mapval");
  n->mutable_frame()->set_type("*main.Session");
  n->set_self_bytes(1 << 20);
  n->set_self_count(1024);
  n->set_cum_bytes(40u << 20);
  n->set_cum_count(90000);
  n->set_retained_bytes(39u << 20);

  v1::IngestMessage back;
  ASSERT_TRUE(back.ParseFromString(m.SerializeAsString()));
  ASSERT_EQ(back.kind_case(), v1::IngestMessage::kPaths);
  const auto& b = back.paths().nodes(0);
  EXPECT_EQ(b.id(), 0xfedcba9876543210ull);
  EXPECT_EQ(b.parent_id(), 0x0123456789abcdefull);
  EXPECT_EQ(b.frame().kind(), v1::FRAME_KIND_MAP_VALUE);
  EXPECT_EQ(b.frame().type(), "*main.Session");
  EXPECT_EQ(b.cum_bytes(), 40u << 20);
  EXPECT_EQ(b.retained_bytes(), 39u << 20);
}

}  // namespace
}  // namespace goretain
