using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Activations.Coordinator.Store.Configurations;

sealed class JobRecordConfiguration : IEntityTypeConfiguration<JobRecord>
{
    public void Configure(EntityTypeBuilder<JobRecord> job)
    {
        job.ToTable("jobs");
        job.HasKey(j => j.Id);
        job.Property(j => j.Id).HasColumnName("id");
        job.Property(j => j.Key).HasColumnName("key").HasMaxLength(64);
        job.HasIndex(j => j.Key).IsUnique();
        job.Property(j => j.SettingsJson).HasColumnName("settings_json");
        job.Property(j => j.ModelFingerprint).HasColumnName("model_fingerprint").HasMaxLength(64);
        job.Property(j => j.OutputDirectory).HasColumnName("output_directory");
        job.Property(j => j.QuestionCount).HasColumnName("question_count");
        job.Property(j => j.Status).HasColumnName("status").HasMaxLength(16);
        job.Property(j => j.FailureReason).HasColumnName("failure_reason");
        job.Property(j => j.CreatedAt).HasColumnName("created_at");
        job.Property(j => j.CompletedAt).HasColumnName("completed_at");
    }
}
