using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Activations.Coordinator.Store.Configurations;

sealed class QuestionResultRecordConfiguration : IEntityTypeConfiguration<QuestionResultRecord>
{
    public void Configure(EntityTypeBuilder<QuestionResultRecord> result)
    {
        result.ToTable("question_results");
        // The primary key is what makes recording idempotent: a second result for a question is ignored.
        result.HasKey(r => new { r.JobId, r.QuestionIndex });
        result.Property(r => r.JobId).HasColumnName("job_id");
        result.Property(r => r.QuestionIndex).HasColumnName("question_index");
        result.Property(r => r.TokenCount).HasColumnName("token_count");
        result.Property(r => r.Dtype).HasColumnName("dtype").HasMaxLength(16);
        result.Property(r => r.Device).HasColumnName("device").HasMaxLength(32);
        result.Property(r => r.Worker).HasColumnName("worker");
        result.Property(r => r.RecordedAt).HasColumnName("recorded_at");
        result.HasOne<QuestionRecord>().WithOne().HasForeignKey<QuestionResultRecord>(r => new { r.JobId, r.QuestionIndex }).OnDelete(DeleteBehavior.Cascade);
    }
}
